package dev.batchinference.transforms.io;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.not;

import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link ReadBigQuery}'s description; its reading is tested end to end against Beam's
 * BigQuery fakes in the pipelines module.
 */
@RunWith(JUnit4.class)
public class ReadBigQueryTest {

  @Test
  public void displayDataShowsTheTableOrQueryAndTheMethod() {
    DisplayData table = DisplayData.from(ReadBigQuery.table("proj:ds.reviews"));
    assertThat(table, hasDisplayItem("table", "proj:ds.reviews"));
    assertThat(table, not(hasDisplayItem("query")));
    assertThat(table, hasDisplayItem("method", "DIRECT_READ"));

    DisplayData query =
        DisplayData.from(
            ReadBigQuery.query("SELECT id, text FROM `proj.ds.reviews`")
                .withMethod(TypedRead.Method.EXPORT));
    assertThat(query, hasDisplayItem("query", "SELECT id, text FROM `proj.ds.reviews`"));
    assertThat(query, not(hasDisplayItem("table")));
    assertThat(query, hasDisplayItem("method", "EXPORT"));
  }
}
