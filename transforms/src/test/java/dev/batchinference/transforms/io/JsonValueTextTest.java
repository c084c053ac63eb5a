package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link JsonValueText}. */
@RunWith(JUnit4.class)
public class JsonValueTextTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  public void eachValueAsWritten() throws IOException {
    Map<String, String> values =
        JsonValueText.of(
            "{ \"a\" : 12345678901234567.89, \"b\":\"x\\\"y\\u00e9\",\"c\":{\"d\":[1, -0.0, 1e400]},"
                + "\"e\":true,\"f\":null,\"g\":[],\"h\":-7}");
    assertThat(values.keySet(), contains("a", "b", "c", "e", "f", "g", "h"));
    assertThat(values.get("a"), equalTo("12345678901234567.89"));
    assertThat(values.get("b"), equalTo("\"x\\\"y\\u00e9\""));
    assertThat(values.get("c"), equalTo("{\"d\":[1, -0.0, 1e400]}"));
    assertThat(values.get("e"), equalTo("true"));
    assertThat(values.get("f"), equalTo("null"));
    assertThat(values.get("g"), equalTo("[]"));
    assertThat(values.get("h"), equalTo("-7"));
  }

  @Test
  public void asATextColumnHoldsThem() throws IOException {
    Map<String, String> values =
        JsonValueText.asText(
            "{\"s\":\"x\\\"y\\u00e9\",\"n\":null,\"d\":12345678901234567.89,\"o\":{\"k\":[1, -0.0]}}");
    assertThat(values.keySet(), contains("s", "n", "d", "o"));
    assertThat(values.get("s"), equalTo("x\"y\u00e9"));
    assertThat(values.containsKey("n") && values.get("n") == null, equalTo(true));
    assertThat(values.get("d"), equalTo("12345678901234567.89"));
    assertThat(values.get("o"), equalTo("{\"k\":[1, -0.0]}"));
  }

  @Test
  public void notAnObjectIsRefused() {
    assertThrows(IOException.class, () -> JsonValueText.of("[1,2]"));
  }

  @Test
  public void decimalsAnywhereInAValue() throws IOException {
    assertThat(JsonValueText.hasDecimal(JSON.readTree("{\"a\":[1,{\"b\":2.5}]}")), equalTo(true));
    assertThat(
        JsonValueText.hasDecimal(JSON.readTree("{\"a\":[1,{\"b\":\"2.5\"}]}")), equalTo(false));
    assertThat(JsonValueText.hasDecimal(JSON.readTree("12345678901234567890123")), equalTo(false));
  }
}
