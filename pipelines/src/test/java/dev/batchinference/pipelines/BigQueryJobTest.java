package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.api.services.bigquery.model.JobStatistics;
import com.google.api.services.bigquery.model.JobStatistics2;
import com.google.api.services.bigquery.model.Table;
import com.google.api.services.bigquery.model.TableFieldSchema;
import com.google.api.services.bigquery.model.TableReference;
import com.google.api.services.bigquery.model.TableRow;
import com.google.api.services.bigquery.model.TableSchema;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.pipelines.testing.FakeStorageReads;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Fortunes;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.io.gcp.testing.FakeBigQueryServices;
import org.apache.beam.sdk.io.gcp.testing.FakeDatasetService;
import org.apache.beam.sdk.io.gcp.testing.FakeJobService;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.Before;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Jobs that read and write BigQuery, against Beam's own BigQuery fakes: input tables read through
 * the Storage Read API (a fake of it: Beam has none), an export job or a query, predictions,
 * failures and summaries written by load jobs and by the Storage Write API (which runs Beam's real
 * conversion of each row to the table's schema).
 */
@RunWith(JUnit4.class)
public class BigQueryJobTest {

  private static final String PROJECT = "test-project";
  private static final String DATASET = "nightly";
  private static final ObjectMapper JSON = new ObjectMapper();

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static List<Fortunes.Fortune> fortunes;
  private FakeDatasetService datasets;
  private FakeJobService jobs;
  private FakeBigQueryServices services;

  @BeforeClass
  public static void loadFortunes() {
    fortunes = Fortunes.load(6);
  }

  @Before
  public void setUpFakes() throws Exception {
    FakeDatasetService.setUp();
    FakeJobService.setUp();
    datasets = new FakeDatasetService();
    datasets.createDataset(PROJECT, DATASET, "US", "", null);
    jobs = new FakeJobService();
    services = new FakeBigQueryServices().withDatasetService(datasets).withJobService(jobs);
  }

  /** Fortunes as an input table, plus rows that must fail: no text, no id. */
  private String fortuneTable() throws Exception {
    TableReference ref =
        new TableReference().setProjectId(PROJECT).setDatasetId(DATASET).setTableId("fortunes");
    datasets.createTable(
        new Table()
            .setTableReference(ref)
            .setNumBytes(1L << 20)
            .setSchema(
                new TableSchema()
                    .setFields(
                        List.of(
                            new TableFieldSchema().setName("id").setType("STRING"),
                            new TableFieldSchema().setName("category").setType("STRING"),
                            new TableFieldSchema().setName("length").setType("INTEGER"),
                            new TableFieldSchema().setName("text").setType("STRING")))));
    List<TableRow> rows = new ArrayList<>();
    for (Fortunes.Fortune f : fortunes) {
      rows.add(
          new TableRow()
              .set("id", f.id())
              .set("category", f.category())
              .set("length", (long) f.text().length())
              .set("text", f.text()));
    }
    // Beam's fake export writes every column; real BigQuery would write NULLs for missing ones.
    rows.add(
        new TableRow()
            .set("id", "no-text")
            .set("category", "broken")
            .set("length", 0L)
            .set("text", null));
    rows.add(
        new TableRow()
            .set("id", null)
            .set("category", "broken")
            .set("length", 19L)
            .set("text", "a row without an id"));
    datasets.insertAll(ref, rows, null);
    return PROJECT + ":" + DATASET + ".fortunes";
  }

  private BatchInferenceOptions options(Path out) {
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setBigQueryServices(services);
    options.setBigQueryReadMethod(TypedRead.Method.EXPORT);
    options.setTempLocation(TMP.getRoot().getAbsolutePath());
    options.setOutput(out.toString());
    options.as(org.apache.beam.sdk.extensions.gcp.options.GcpOptions.class).setProject(PROJECT);
    return options;
  }

  /**
   * Every test writes tables of its own names: Beam's BigQuery sinks remember, per JVM, which
   * tables they created, and the fakes are reset between tests.
   */
  private List<TableRow> rows(String table) throws Exception {
    return datasets.getAllRows(PROJECT, DATASET, table);
  }

  @Test
  public void embedsATableIntoTablesThroughTheStorageWriteApi() throws Exception {
    BatchInferenceOptions options = options(TMP.newFolder("storage").toPath());
    options.setInputTable(fortuneTable());
    options.setCarryFields(List.of("category", "length"));
    options.setOutputTable(PROJECT + ":" + DATASET + ".embeddings");
    options.setFailuresTable(PROJECT + ":" + DATASET + ".failures");
    options.setSummaryTable(PROJECT + ":" + DATASET + ".runs");
    options.setBigQueryWriteMethod(TableWriteMethod.STORAGE_WRITE_API);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    // The table was created with the schema derived from the prediction and carried fields.
    Table created =
        datasets.getTable(
            new TableReference()
                .setProjectId(PROJECT)
                .setDatasetId(DATASET)
                .setTableId("embeddings"));
    Map<String, TableFieldSchema> columns = new HashMap<>();
    for (TableFieldSchema f : created.getSchema().getFields()) {
      columns.put(f.getName(), f);
    }
    assertThat(columns.get("embedding").getMode(), equalTo("REPEATED"));
    assertThat(columns.get("embedding").getType(), equalTo("FLOAT64"));
    assertThat(columns.get("category").getType(), equalTo("STRING"));
    assertThat(columns.get("model_sha256").getMode(), equalTo("REQUIRED"));

    List<TableRow> predictions = rows("embeddings");
    assertThat(predictions.size(), equalTo(fortunes.size()));
    Map<String, Fortunes.Fortune> byId = new HashMap<>();
    fortunes.forEach(f -> byId.put(f.id(), f));
    for (TableRow row : predictions) {
      Fortunes.Fortune f = byId.get((String) row.get("id"));
      assertThat("a prediction per input row", f != null, is(true));
      assertThat(row.get("category"), equalTo(f.category()));
      assertThat(row.get("length"), equalTo(Integer.toString(f.text().length())));
      assertThat(row.get("source"), equalTo("bigquery:" + PROJECT + ":" + DATASET + ".fortunes"));
      List<?> embedding = (List<?>) row.get("embedding");
      assertThat(embedding.size(), equalTo(384));
      double norm = 0;
      for (Object v : embedding) {
        double d = Double.parseDouble(v.toString());
        norm += d * d;
      }
      assertThat(Math.sqrt(norm), closeTo(1.0, 1e-3));
    }

    List<TableRow> failures = rows("failures");
    assertThat(failures.size(), equalTo(2));
    Map<String, TableRow> failureByMessage = new HashMap<>();
    for (TableRow f : failures) {
      failureByMessage.put((String) f.get("error"), f);
    }
    TableRow noText = failureByMessage.get("record has no 'text' field");
    assertThat(noText.get("id"), equalTo("no-text"));
    assertThat(noText.get("stage"), equalTo("preprocess"));
    TableRow noId = failureByMessage.get("record has no id field 'id'");
    assertThat(noId.get("stage"), equalTo("parse"));
    assertThat((String) noId.get("input"), containsString("a row without an id"));

    List<TableRow> runs = rows("runs");
    assertThat(runs.size(), equalTo(1));
    assertThat(runs.get(0).get("records_read"), equalTo(Long.toString(fortunes.size() + 2)));
    assertThat(runs.get(0).get("nothing_lost"), equalTo(true));
    JsonNode summary = JSON.readTree((String) runs.get(0).get("summary"));
    assertThat(summary.get("input").asText(), equalTo("bigquery:" + options.getInputTable()));
    assertThat(summary.get("predictions").asLong(), equalTo((long) fortunes.size()));
  }

  @Test
  public void readsATableThroughTheStorageReadApiByDefault() throws Exception {
    String table = fortuneTable();
    org.apache.avro.Schema avro =
        org.apache.avro.SchemaBuilder.record("fortunes")
            .fields()
            .optionalString("id")
            .optionalString("category")
            .optionalLong("length")
            .optionalString("text")
            .endRecord();
    List<org.apache.avro.generic.GenericRecord> records = new ArrayList<>();
    for (TableRow row : rows("fortunes")) {
      records.add(
          new org.apache.avro.generic.GenericRecordBuilder(avro)
              .set("id", row.get("id"))
              .set("category", row.get("category"))
              .set("length", row.get("length"))
              .set("text", row.get("text"))
              .build());
    }
    services = services.withStorageClient(new FakeStorageReads(avro, records));
    int sessionsBefore = FakeStorageReads.sessionsCreated();
    Path out = TMP.newFolder("direct").toPath();
    BatchInferenceOptions options = options(out);
    options.setBigQueryReadMethod(TypedRead.Method.DIRECT_READ);
    options.setInputTable(table);
    options.setCarryFields(List.of("category", "length"));
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    assertThat(FakeStorageReads.sessionsCreated(), equalTo(sessionsBefore + 1));
    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.predictions.size(), equalTo(fortunes.size()));
    Map<String, JsonNode> byId = outputs.predictionsById();
    Fortunes.Fortune first = fortunes.get(0);
    assertThat(byId.get(first.id()).get("category").asText(), equalTo(first.category()));
    assertThat(byId.get(first.id()).get("length").asLong(), equalTo((long) first.text().length()));
    assertThat(outputs.failures.size(), equalTo(2));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void embedsTheResultOfAQuery() throws Exception {
    fortuneTable();
    TableReference ref =
        new TableReference().setProjectId(PROJECT).setDatasetId(DATASET).setTableId("fortunes");
    List<TableRow> selected = new ArrayList<>();
    for (TableRow row : rows("fortunes")) {
      if ("computers".equals(row.get("category"))) {
        selected.add(row);
      }
    }
    // Beam's fake runs no SQL: the query text encodes its result, and its dry run is expected.
    String query = FakeBigQueryServices.encodeQueryResult(datasets.getTable(ref), selected);
    jobs.expectDryRunQuery(
        PROJECT,
        query,
        new JobStatistics()
            .setQuery(
                new JobStatistics2()
                    .setTotalBytesProcessed(100L)
                    .setReferencedTables(List.of(ref))));
    Path out = TMP.newFolder("query").toPath();
    BatchInferenceOptions options = options(out);
    options.setInputQuery(query);
    options.setCarryFields(List.of("category"));
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.predictions.size(), equalTo(selected.size()));
    for (JsonNode p : outputs.predictions) {
      assertThat(p.get("category").asText(), equalTo("computers"));
      assertThat(p.get("source").asText(), equalTo("bigquery:query"));
    }
    assertThat(outputs.summary.get("input").asText(), equalTo("bigquery:query"));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void rowsTheStorageWriteApiRefusesBecomeWriteFailures() throws Exception {
    datasets.setShouldFailRow(
        (Function<TableRow, Boolean> & Serializable) row -> "computers-3".equals(row.get("id")));
    Path out = TMP.newFolder("refused").toPath();
    BatchInferenceOptions options = options(out);
    options.setInputTable(fortuneTable());
    options.setOutputTable(PROJECT + ":" + DATASET + ".refused");
    options.setBigQueryWriteMethod(TableWriteMethod.STORAGE_WRITE_API);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    assertThat(rows("refused").size(), equalTo(fortunes.size() - 1));
    JobOutputs outputs = JobOutputs.read(out);
    Map<String, JsonNode> failures = outputs.failuresByKey();
    assertThat(failures.size(), equalTo(3));
    JsonNode refused = failures.get("computers-3");
    assertThat(refused.get("stage").asText(), equalTo("write"));
    assertThat(refused.get("error").asText(), containsString("refused the row"));
    assertThat(outputs.summary.get("predictions").asLong(), equalTo(fortunes.size() - 1L));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void classifiesIntoATableByLoadJobsAndTruncatesOnRerun() throws Exception {
    FashionMnist.Dataset images = FashionMnist.load(false, 120);
    Path dir = TMP.newFolder("classify").toPath();
    Path model = FashionMnist.trainedClassifier(dir, 2000);
    Path input = dir.resolve("images.jsonl");
    FashionMnist.writeJsonLines(input, images, "img");

    for (int run = 0; run < 2; run++) {
      TestPipeline p =
          run == 0 ? pipeline : TestPipeline.create().enableAbandonedNodeEnforcement(false);
      BatchInferenceOptions options = p.getOptions().as(BatchInferenceOptions.class);
      options.setBigQueryServices(services);
      options.setTempLocation(TMP.getRoot().getAbsolutePath());
      options.setOutput(dir.resolve("out" + run).toString());
      options.as(org.apache.beam.sdk.extensions.gcp.options.GcpOptions.class).setProject(PROJECT);
      options.setTask(BatchInferenceOptions.Task.CLASSIFY);
      options.setModel(model.toString());
      options.setClassLabels(FashionMnist.writeLabels(dir.resolve("labels.txt")).toString());
      options.setInput(input.toString());
      options.setOutputTable(PROJECT + ":" + DATASET + ".classes");
      options.setBigQueryWriteMethod(TableWriteMethod.FILE_LOADS);
      options.setWriteDisposition(BigQueryIO.Write.WriteDisposition.WRITE_TRUNCATE);
      BatchInference.build(p, options);
      p.run().waitUntilFinish();
    }

    List<TableRow> classes = rows("classes");
    assertThat("the second run replaced the first", classes.size(), equalTo(120));
    for (TableRow row : classes) {
      List<?> topK = (List<?>) row.get("top_k");
      assertThat(topK.size(), equalTo(3));
      Map<?, ?> best = (Map<?, ?>) topK.get(0);
      assertThat(best.get("label"), equalTo(row.get("label")));
      assertThat(FashionMnist.LABELS.contains((String) row.get("label")), is(true));
    }
  }

  /**
   * BigQuery's last TIMESTAMP (the common "never" sentinel's neighbour) and first DATE, exactly.
   */
  private static final String LAST_TIMESTAMP = "9999-12-31T23:59:59.999999Z";

  private static final String FIRST_TIMESTAMP = "0001-01-01T00:00:00Z";

  /**
   * A table whose TIMESTAMP and DATE columns hold values at both ends of BigQuery's range: a
   * TIMESTAMP as microseconds since the epoch, which is how an export's Avro carries it (a DATE it
   * carries as text).
   */
  private String farDatesTable() throws Exception {
    TableReference ref =
        new TableReference().setProjectId(PROJECT).setDatasetId(DATASET).setTableId("far_dates");
    datasets.createTable(
        new Table()
            .setTableReference(ref)
            .setNumBytes(1L << 20)
            .setSchema(
                new TableSchema()
                    .setFields(
                        List.of(
                            new TableFieldSchema().setName("id").setType("STRING"),
                            new TableFieldSchema().setName("text").setType("STRING"),
                            new TableFieldSchema().setName("valid_until").setType("TIMESTAMP"),
                            new TableFieldSchema().setName("day").setType("DATE")))));
    datasets.insertAll(
        ref,
        List.of(
            new TableRow()
                .set("id", "last")
                .set("text", fortunes.get(0).text())
                .set("valid_until", 253_402_300_799_999_999L)
                .set("day", "9999-12-31"),
            new TableRow()
                .set("id", "first")
                .set("text", fortunes.get(1).text())
                .set("valid_until", -62_135_596_800_000_000L)
                .set("day", "0001-01-01")),
        null);
    return PROJECT + ":" + DATASET + ".far_dates";
  }

  private void assertFarDatesCarriedExactly(Path out) throws Exception {
    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.failures.toString(), outputs.failures.size(), equalTo(0));
    Map<String, JsonNode> byId = outputs.predictionsById();
    assertThat(byId.get("last").get("valid_until").asText(), equalTo(LAST_TIMESTAMP));
    assertThat(byId.get("last").get("day").asText(), equalTo("9999-12-31"));
    assertThat(byId.get("first").get("valid_until").asText(), equalTo(FIRST_TIMESTAMP));
    assertThat(byId.get("first").get("day").asText(), equalTo("0001-01-01"));
  }

  @Test
  public void carriesTimestampsAndDatesFarFromNowThroughAnExport() throws Exception {
    Path out = TMP.newFolder("far-export").toPath();
    BatchInferenceOptions options = options(out);
    options.setInputTable(farDatesTable());
    options.setCarryFields(List.of("valid_until", "day"));
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    assertFarDatesCarriedExactly(out);
  }

  @Test
  public void carriesTimestampsAndDatesFarFromNowThroughTheStorageReadApi() throws Exception {
    String table = farDatesTable();
    // The Storage Read API's Avro: TIMESTAMP as timestamp-micros, DATE as date, both nullable.
    org.apache.avro.Schema timestamp =
        org.apache.avro.LogicalTypes.timestampMicros()
            .addToSchema(org.apache.avro.Schema.create(org.apache.avro.Schema.Type.LONG));
    org.apache.avro.Schema date =
        org.apache.avro.LogicalTypes.date()
            .addToSchema(org.apache.avro.Schema.create(org.apache.avro.Schema.Type.INT));
    org.apache.avro.Schema avro =
        org.apache.avro.SchemaBuilder.record("far_dates")
            .fields()
            .optionalString("id")
            .optionalString("text")
            .name("valid_until")
            .type()
            .unionOf()
            .nullType()
            .and()
            .type(timestamp)
            .endUnion()
            .nullDefault()
            .name("day")
            .type()
            .unionOf()
            .nullType()
            .and()
            .type(date)
            .endUnion()
            .nullDefault()
            .endRecord();
    List<org.apache.avro.generic.GenericRecord> records = new ArrayList<>();
    for (TableRow row : rows("far_dates")) {
      records.add(
          new org.apache.avro.generic.GenericRecordBuilder(avro)
              .set("id", row.get("id"))
              .set("text", row.get("text"))
              .set("valid_until", row.get("valid_until"))
              .set("day", (int) java.time.LocalDate.parse((String) row.get("day")).toEpochDay())
              .build());
    }
    services = services.withStorageClient(new FakeStorageReads(avro, records));
    Path out = TMP.newFolder("far-direct").toPath();
    BatchInferenceOptions options = options(out);
    options.setBigQueryReadMethod(TypedRead.Method.DIRECT_READ);
    options.setInputTable(table);
    options.setCarryFields(List.of("valid_until", "day"));
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    assertFarDatesCarriedExactly(out);
  }
}
