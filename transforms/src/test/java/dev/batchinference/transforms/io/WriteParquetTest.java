package dev.batchinference.transforms.io;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.not;

import org.apache.beam.sdk.transforms.display.DisplayData;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link WriteParquet}'s description; its files are tested end to end in the pipelines
 * module.
 */
@RunWith(JUnit4.class)
public class WriteParquetTest {

  @Test
  public void displayDataShowsWhereItWrites() {
    DisplayData data =
        DisplayData.from(WriteParquet.to("gs://bucket/out", "predictions").withNumShards(1));
    assertThat(data, hasDisplayItem("directory", "gs://bucket/out"));
    assertThat(data, hasDisplayItem("prefix", "predictions"));
    assertThat(data, hasDisplayItem("numShards", 1));

    DisplayData defaults = DisplayData.from(WriteParquet.to("out", "failures"));
    assertThat("as many files as the runner likes", defaults, not(hasDisplayItem("numShards")));
  }
}
