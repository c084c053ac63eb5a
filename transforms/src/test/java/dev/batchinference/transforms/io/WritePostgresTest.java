package dev.batchinference.transforms.io;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;

import java.util.List;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link WritePostgres}'s description; its writing is tested against a real PostgreSQL in
 * the pipelines module.
 */
@RunWith(JUnit4.class)
public class WritePostgresTest {

  @Test
  public void displayDataShowsWhereItWritesButNoPassword() {
    PostgresConnection connection =
        PostgresConnection.of(
            "jdbc:postgresql://db:5432/scores?password=s3cret&ssl=true", "scorer", "PGPASS", null);
    DisplayData data =
        DisplayData.from(
            WritePostgres.to(connection, "public.predictions", List.of("id")).withBatchSize(500));
    assertThat(data, hasDisplayItem("jdbcUrl", "jdbc:postgresql://db:5432/scores?ssl=true"));
    assertThat(data, hasDisplayItem("user", "scorer"));
    assertThat(data, hasDisplayItem("table", "public.predictions"));
    assertThat(data, hasDisplayItem("key", "id"));
    assertThat(data, hasDisplayItem("batchSize", 500));
    assertThat(
        "nothing shows the password",
        data.items().stream().anyMatch(i -> String.valueOf(i.getValue()).contains("s3cret")),
        equalTo(false));
    assertThat(data, not(hasDisplayItem("password")));
  }

  @Test
  public void urlWithoutPasswordDropsEveryPasswordParameter() {
    assertThat(
        PostgresConnection.of("jdbc:postgresql://db/x", "u", null, null).urlWithoutPassword(),
        equalTo("jdbc:postgresql://db/x"));
    assertThat(
        PostgresConnection.of("jdbc:postgresql://db/x?password=p", "u", null, null)
            .urlWithoutPassword(),
        equalTo("jdbc:postgresql://db/x"));
    assertThat(
        PostgresConnection.of(
                "jdbc:postgresql://db:5432/x?ssl=true&PASSWORD=p&sslpassword=q&user=u",
                "u",
                null,
                null)
            .urlWithoutPassword(),
        equalTo("jdbc:postgresql://db:5432/x?ssl=true&user=u"));
    assertThat(
        PostgresConnection.of("jdbc:postgresql://u:p@db:5432/x", "u", null, null)
            .urlWithoutPassword(),
        equalTo("jdbc:postgresql://u@db:5432/x"));
    assertThat(
        "toString, which logs show, keeps the password out too",
        PostgresConnection.of("jdbc:postgresql://db/x?password=p", "u", null, null).toString(),
        equalTo("u at jdbc:postgresql://db/x"));
  }
}
