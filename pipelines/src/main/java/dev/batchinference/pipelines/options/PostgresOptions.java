package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** PostgreSQL: tables to upsert predictions and failures into, and how to connect. */
@Description(
    "PostgreSQL as a sink: the tables that predictions and failures are upserted into, and"
        + " the connection (the password is never an option itself).")
public interface PostgresOptions extends PipelineOptions {

  @Description(
      "Upsert predictions into this PostgreSQL table (created if missing, keyed by id) instead of"
          + " writing files; needs --jdbcUrl.")
  @TemplateParameter(Kind.POSTGRES_TABLE)
  String getPredictionsDbTable();

  void setPredictionsDbTable(String value);

  @Description("Upsert failures into this PostgreSQL table instead of writing files.")
  @TemplateParameter(Kind.POSTGRES_TABLE)
  String getFailuresDbTable();

  void setFailuresDbTable(String value);

  @Description(
      "PostgreSQL JDBC URL for the *DbTable options: jdbc:postgresql://HOST:PORT/DATABASE.")
  @TemplateParameter(Kind.TEXT)
  String getJdbcUrl();

  void setJdbcUrl(String value);

  @Description("PostgreSQL user.")
  @Default.String("postgres")
  @TemplateParameter(Kind.TEXT)
  String getJdbcUser();

  void setJdbcUser(String value);

  @Description(
      "Environment variable that holds the PostgreSQL password, read where connections open"
          + " (never pass the password itself as an option).")
  @Default.String("PGPASSWORD")
  @TemplateParameter(Kind.TEXT)
  String getJdbcPasswordEnv();

  void setJdbcPasswordEnv(String value);

  @Description("File that holds the PostgreSQL password; wins over jdbcPasswordEnv.")
  @TemplateParameter(Kind.TEXT)
  String getJdbcPasswordFile();

  void setJdbcPasswordFile(String value);
}
