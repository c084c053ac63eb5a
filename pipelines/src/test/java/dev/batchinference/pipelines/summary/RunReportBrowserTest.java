package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.junit.Assume.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.cli.CommandLine;
import dev.batchinference.transforms.testing.FashionMnist;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Two real classifier runs through the command line on different slices of Fashion-MNIST (all ten
 * classes, then only classes 0-4 with one hostile bad record), the second compared with the first:
 * it exits with the drift-alert status, and its report.html, opened in headless Chromium, shows the
 * alert row, the class names, the hostile text as text, and renders a non-blank page. Skipped only
 * when Chromium is not installed (.ci/run installs it).
 */
@RunWith(JUnit4.class)
public class RunReportBrowserTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CHROMIUM = "/usr/bin/chromium";
  private static final String HOSTILE = "<script>document.title='pwned'</script><b>bold</b>";

  private static Path model;
  private static Path labels;
  private static Path allClasses;
  private static Path firstFiveClasses;

  @BeforeClass
  public static void trainAndSlice() throws Exception {
    Path dir = TMP.getRoot().toPath();
    model = FashionMnist.trainedClassifier(dir, 2000);
    labels = FashionMnist.writeLabels(dir.resolve("labels.txt"));
    FashionMnist.Dataset test = FashionMnist.load(false, 1200);
    allClasses = dir.resolve("all.jsonl");
    FashionMnist.writeJsonLines(allClasses, slice(test, 0, 600, 10), "a");
    firstFiveClasses = dir.resolve("first-five.jsonl");
    FashionMnist.writeJsonLines(firstFiveClasses, slice(test, 600, 1200, 5), "f");
    Files.writeString(
        firstFiveClasses,
        "{\"id\":" + JSON.writeValueAsString(HOSTILE) + ",\"features\":[1,2,3]}\n",
        java.nio.file.StandardOpenOption.APPEND);
  }

  private static FashionMnist.Dataset slice(
      FashionMnist.Dataset data, int from, int to, int classesBelow) {
    List<Integer> keep = new ArrayList<>();
    for (int i = from; i < to; i++) {
      if (data.labels()[i] < classesBelow) {
        keep.add(i);
      }
    }
    float[][] images = new float[keep.size()][];
    int[] classes = new int[keep.size()];
    for (int k = 0; k < keep.size(); k++) {
      images[k] = data.images()[keep.get(k)];
      classes[k] = data.labels()[keep.get(k)];
    }
    return new FashionMnist.Dataset(images, classes);
  }

  private static int cli(ByteArrayOutputStream err, String... args) {
    return CommandLine.run(
        args,
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private static String[] classify(Path input, Path output, String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--task=CLASSIFY",
                "--model=" + model,
                "--classLabels=" + labels,
                "--input=" + input,
                "--output=" + output,
                "--progress=false"));
    args.addAll(List.of(more));
    return args.toArray(new String[0]);
  }

  @Test
  public void driftedRunExitsWithThreeAndItsReportRendersInChromium() throws Exception {
    Path first = TMP.newFolder("first").toPath();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    assertThat(err.toString(StandardCharsets.UTF_8), cli(err, classify(allClasses, first)), is(0));
    assertThat(
        "the first run has a report too", Files.exists(first.resolve("report.html")), is(true));

    Path second = TMP.newFolder("second").toPath();
    err.reset();
    int status =
        cli(
            err,
            classify(
                firstFiveClasses,
                second,
                "--previousSummary=" + first.resolve("summary.json"),
                "--maxThroughputDrop=-1"));
    String said = err.toString(StandardCharsets.UTF_8);
    assertThat(said, status, equalTo(ExitStatus.DRIFT_ALERT.code()));
    assertThat(said, containsString("DRIFT ALERT: class_psi is "));
    JsonNode summary = JSON.readTree(second.resolve("summary.json").toFile());
    assertThat(summary.at("/comparison/metrics/class_psi/alert").asBoolean(), is(true));
    assertThat(
        "an alert does not lose predictions",
        summary.get("predictions").asLong(),
        equalTo(summary.get("records_read").asLong() - 1));

    Path report = second.resolve("report.html");
    assumeTrue(
        "Chromium is not installed (apt-get install chromium)",
        Files.isExecutable(Path.of(CHROMIUM)));
    String dom = chromium("--dump-dom", report.toUri().toString());
    assertThat(dom, containsString("<tr data-metric=\"class_psi\" class=\"alert\">"));
    assertThat(dom, containsString("DRIFT ALERT"));
    assertThat(dom, containsString("Trouser"));
    assertThat(dom, containsString("Ankle boot"));
    assertThat(dom, containsString("<svg id=\"class-chart\""));
    assertThat("hostile id stays text", dom, containsString("&lt;script&gt;document.title="));
    assertThat(dom, not(containsString("pwned</title>")));
    assertThat(dom, not(containsString("<b>bold</b>")));

    Path png = TMP.getRoot().toPath().resolve("report.png");
    chromium(
        "--screenshot=" + png,
        "--window-size=1100,1800",
        "--hide-scrollbars",
        report.toUri().toString());
    BufferedImage image = ImageIO.read(png.toFile());
    Set<Integer> colors = new HashSet<>();
    long nonWhite = 0;
    for (int y = 0; y < image.getHeight(); y += 2) {
      for (int x = 0; x < image.getWidth(); x += 2) {
        int rgb = image.getRGB(x, y) & 0xFFFFFF;
        colors.add(rgb);
        nonWhite += rgb == 0xFFFFFF ? 0 : 1;
      }
    }
    assertThat("colors in the screenshot", colors.size(), greaterThan(10));
    assertThat("non-white pixels", nonWhite, greaterThan(5_000L));
    String keep = System.getProperty("report.screenshot");
    if (keep != null) {
      Files.copy(png, Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Runs headless Chromium on {@code args}; returns what it wrote to stdout. */
  private static String chromium(String... args) throws IOException, InterruptedException {
    List<String> command =
        new ArrayList<>(
            List.of(
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--user-data-dir=" + TMP.newFolder().toPath()));
    command.addAll(List.of(args));
    Path stdout = TMP.newFile().toPath();
    Process p =
        new ProcessBuilder(command)
            .redirectOutput(stdout.toFile())
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("Chromium did not finish in 120 s: " + command);
    }
    assertThat("Chromium exit status for " + command, p.exitValue(), equalTo(0));
    return Files.readString(stdout, StandardCharsets.UTF_8);
  }
}
