package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The HTML run report: its sections, and hostile texts staying text. */
@RunWith(JUnit4.class)
public class RunReportTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String HOSTILE =
      "</pre></td><script>alert('x')</script><img src=x onerror=alert(1)>\"'&";

  private static ObjectNode summary(long a, long b) {
    ObjectNode s = JSON.createObjectNode();
    s.put("job", "nightly");
    s.put("task", "CLASSIFY");
    s.putObject("model").put("name", "m").put("sha256", "abc");
    s.put("records_read", a + b + 1);
    s.put("predictions", a + b);
    s.put("failures", 1);
    s.put("nothing_lost", true);
    s.put("throughput_records_per_second", 100);
    s.putObject("failures_by_error").put("parse: " + HOSTILE, 1);
    s.putObject("failure_examples")
        .putArray("parse: " + HOSTILE)
        .addObject()
        .put("id", HOSTILE)
        .put("source", "in.jsonl")
        .put("index", 7)
        .put("error", HOSTILE)
        .put("input", HOSTILE);
    s.putObject("prediction_distribution").putObject("class_counts").put("Bag", a).put(HOSTILE, b);
    s.putObject("batch_size").putObject("histogram").put("32", 3);
    s.putArray("alerts");
    return s;
  }

  @Test
  public void reportShowsTheDriftTableWithAlertsAndEscapesHostileText() {
    ObjectNode previous = summary(90, 10);
    ObjectNode current = summary(10, 90);
    ArrayNode alerts = (ArrayNode) current.get("alerts");
    current.set(
        "comparison",
        RunComparison.compare(
            previous, current, "p/summary.json", RunComparison.Thresholds.defaults(), alerts));
    String html = RunReport.render(current, previous);
    assertThat(html, containsString("<tr data-metric=\"class_psi\" class=\"alert\">"));
    assertThat(html, containsString("1 DRIFT ALERT"));
    assertThat(html, containsString("<svg id=\"class-chart\""));
    assertThat(html, containsString("<svg id=\"batch-size-chart\""));
    assertThat(html, containsString("in.jsonl:7"));
    assertThat(html, not(containsString("<script")));
    assertThat(html, not(containsString("<img")));
    assertThat(html, containsString("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  }

  @Test
  public void withoutAPreviousRunThereIsNoDriftSection() {
    String html = RunReport.render(summary(3, 4), null);
    assertThat(html, containsString("<span class=\"badge ok\" id=\"status\">OK</span>"));
    assertThat(html, not(containsString("id=\"drift\"")));
    assertThat(html, containsString("<svg id=\"class-chart\""));
  }

  @Test
  public void theReportShowsHowInferenceWasSpread() {
    ObjectNode s = summary(3, 4);
    s.putObject("inference_workers")
        .put("count", 4)
        .put("records_min", 1)
        .put("records_max", 3)
        .put("batches_min", 1)
        .put("batches_max", 2);
    assertThat(
        RunReport.render(s, null),
        containsString(
            "<th>Inference workers</th><td>4 (records per worker 1 to 3, batches 1 to 2)</td>"));
    assertThat(
        "absent from older summaries",
        RunReport.render(summary(3, 4), null),
        not(containsString("Inference workers")));
  }

  @Test
  public void aRunPastTheFailureGateSaysSoAtTheTop() {
    ObjectNode s = summary(1, 1);
    s.put("max_failure_rate", 0.1);
    FailureGate.addTo(s);
    String html = RunReport.render(s, null);
    assertThat(
        html, containsString("<span class=\"badge bad\" id=\"status\">TOO MANY FAILURES</span>"));
    assertThat(html, containsString("1 of 3 records failed (33.3%), above --maxFailureRate=0.1"));
  }
}
