package dev.batchinference.transforms.preprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.util.Locale;
import java.util.Random;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link NumberArray}: the fast read gives the tree's floats or leaves the line to it. */
@RunWith(JUnit4.class)
public class NumberArrayTest {

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /** The floats the tree parse gives: each number as a double node, then {@code floatValue()}. */
  private static float[] viaTree(String line, String field) throws Exception {
    JsonNode array = JSON.readTree(line).get(field);
    float[] values = new float[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).floatValue();
    }
    return values;
  }

  private static String number(Random random) {
    switch (random.nextInt(8)) {
      case 0:
        return Integer.toString(random.nextInt(512) - 256);
      case 1:
        return Float.toString(random.nextInt(256) / 255f);
      case 2:
        return Double.toString(random.nextGaussian() * Math.pow(10, random.nextInt(40) - 20));
      case 3:
        return String.format(Locale.ROOT, "%.17f", random.nextDouble() - 0.5);
      case 4:
        return new BigDecimal(random.nextDouble()).toPlainString(); // 50+ digits
      case 5:
        return (random.nextBoolean() ? "-" : "")
            + random.nextInt(10)
            + "e"
            + (random.nextInt(80) - 40);
      case 6:
        return "-0";
      default:
        return Long.toString(random.nextLong() % 1_000_000_000_000_000_000L); // up to 18 digits
    }
  }

  @Test
  public void readsEveryNumberAsTheTreeDoes() throws Exception {
    Random random = new Random(17);
    for (int line = 0; line < 2_000; line++) {
      int n = 1 + random.nextInt(40);
      StringBuilder text = new StringBuilder("{\"id\":\"r" + line + "\", \"features\" : [");
      for (int i = 0; i < n; i++) {
        text.append(i == 0 ? "" : random.nextBoolean() ? "," : " ,\n ").append(number(random));
      }
      text.append(" ], \"label\":{\"k\":[1,\"x\"]}}");
      float[] values = new float[n];
      ObjectNode rest = new NumberArray("features", n).read(text.toString(), JSON, values);
      assertThat(text.toString(), rest != null, equalTo(true));
      float[] expected = viaTree(text.toString(), "features");
      for (int i = 0; i < n; i++) {
        assertThat(
            text + " [" + i + "]",
            Float.floatToIntBits(values[i]),
            equalTo(Float.floatToIntBits(expected[i])));
      }
      assertThat("the rest", rest.get("id").textValue(), equalTo("r" + line));
      assertThat("the rest", rest.get("label").toString(), equalTo("{\"k\":[1,\"x\"]}"));
      assertThat("the array's field is left null", rest.get("features").isNull(), equalTo(true));
    }
  }

  @Test
  public void leavesAnythingButExactlyThatManyPlainNumbersToTheTree() throws Exception {
    String[] lines = {
      "{\"features\":[1,2]}", // too few
      "{\"features\":[1,2,3,4]}", // too many
      "{\"features\":[1,\"2\",3]}", // a numeric string: the tree accepts it
      "{\"features\":[1,null,3]}",
      "{\"features\":[1,[2],3]}",
      "{\"features\":[1,2,NaN]}",
      "{\"features\":[01,2,3]}",
      "{\"features\":[1.,2,3]}",
      "{\"features\":[.5,2,3]}",
      "{\"features\":[1,2,3e]}",
      "{\"features\":[1,2,3,]}",
      "{\"features\":[1,2,1234567890123456789]}", // 19 digits: maybe a big integer
      "{\"features\":3}",
      "{\"other\":[1,2,3]}",
      "{\"nested\":{\"features\":[1,2,3]}}",
      "[1,2,3]",
      "{\"features\":[1,2,3"
    };
    for (String line : lines) {
      assertThat(line, new NumberArray("features", 3).read(line, JSON, new float[3]), nullValue());
    }
  }

  @Test
  public void theRestOfTheLineIsStillCheckedByJackson() throws Exception {
    NumberArray array = new NumberArray("features", 2);
    for (String line :
        new String[] {
          "{\"features\":[1,2],\"features\":[3,4]}",
          "{\"id\":1,\"features\":[1,2],\"id\":2}",
          "{\"features\":[1,2]} {\"x\":1}",
          "{\"features\":[1,2],\"x\":}"
        }) {
      try {
        ObjectNode rest = array.read(line, JSON, new float[2]);
        if (!line.contains("} {")) {
          throw new AssertionError("expected a parse error for " + line + ", got " + rest);
        }
      } catch (com.fasterxml.jackson.core.JsonProcessingException expected) {
        // The caller parses the line again the usual way for the usual message.
      }
    }
  }
}
