package dev.batchinference.pipelines.cli;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

import java.nio.file.Path;
import java.util.List;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

@RunWith(JUnit4.class)
public class TuneBatchSizeTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  @Test
  public void measuresDoublingBatchesOfTheRealModelOnTheSampleCorpus() throws Exception {
    Path corpus = Path.of("..", "src", "samples", "fortunes.jsonl").toAbsolutePath().normalize();
    PipelineOptionsFactory.register(TuneBatchSize.Options.class);
    TuneBatchSize.Options options =
        PipelineOptionsFactory.fromArgs(
                "--task=EMBED",
                "--input=" + corpus,
                "--output=" + tmp.getRoot().toPath().resolve("out"),
                "--tuneRecords=24",
                "--maxTuneBatchSize=8",
                "--tuneSeconds=0.1")
            .as(TuneBatchSize.Options.class);

    List<TuneBatchSize.Point> curve = TuneBatchSize.tune(options);

    assertThat(curve.stream().map(TuneBatchSize.Point::batchSize).toList(), contains(1, 2, 4, 8));
    for (TuneBatchSize.Point p : curve) {
      assertThat(p.recordsPerSecond(), greaterThan(0.0));
    }
    assertThat(TuneBatchSize.largestThatFits(curve), is(8));
    assertThat(TuneBatchSize.report(curve), containsString("recommended: --batchSize="));
  }

  @Test
  public void theKneeIsTheSmallestBatchWithinTenPercentOfTheBestAndOutOfMemoryEndsTheCurve() {
    List<TuneBatchSize.Point> curve =
        List.of(
            new TuneBatchSize.Point(1, 100, 10),
            new TuneBatchSize.Point(2, 180, 11),
            new TuneBatchSize.Point(4, 300, 13),
            new TuneBatchSize.Point(8, 380, 21),
            new TuneBatchSize.Point(16, 400, 40),
            new TuneBatchSize.Point(32, Double.NaN, Double.NaN));
    assertThat(TuneBatchSize.knee(curve), is(8));
    assertThat(TuneBatchSize.largestThatFits(curve), is(16));
    assertThat(
        TuneBatchSize.report(curve),
        equalTo(
            "largest batch that fits: 16 (the next one ran out of memory); knee (within 10% of"
                + " the best throughput): 8; recommended: --batchSize=8"));
  }
}
