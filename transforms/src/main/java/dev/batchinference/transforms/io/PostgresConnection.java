package dev.batchinference.transforms.io;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.sql.DataSource;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Where a PostgreSQL database is and how to log in: a JDBC URL and a user, and the password read
 * where the connection is opened (on each worker) from an environment variable or a file. The
 * password itself never becomes part of the job: not an option, not in the serialized pipeline, not
 * in logs.
 */
public final class PostgresConnection implements Serializable {

  private final String url;
  private final String user;
  private final @Nullable String passwordEnv;
  private final @Nullable String passwordFile;

  private PostgresConnection(
      String url, String user, @Nullable String passwordEnv, @Nullable String passwordFile) {
    this.url = url;
    this.user = user;
    this.passwordEnv = passwordEnv;
    this.passwordFile = passwordFile;
  }

  /**
   * @param passwordEnv the environment variable holding the password, or null
   * @param passwordFile a file holding the password (trailing newline ignored), or null; wins over
   *     the variable
   */
  public static PostgresConnection of(
      String url, String user, @Nullable String passwordEnv, @Nullable String passwordFile) {
    if (url == null || !url.startsWith("jdbc:postgresql:")) {
      throw new IllegalArgumentException(
          "not a PostgreSQL JDBC URL: " + url + " (expected jdbc:postgresql://HOST:PORT/DATABASE)");
    }
    return new PostgresConnection(url, user, passwordEnv, passwordFile);
  }

  public String url() {
    return url;
  }

  public String user() {
    return user;
  }

  /**
   * The URL without a password written into it ({@code ?password=...}, {@code sslpassword}, or
   * {@code //user:password@host}): what may be shown in runner UIs and logs.
   */
  public String urlWithoutPassword() {
    String shown = url.replaceFirst("^(jdbc:postgresql://[^/?@]*?):[^/?@]*@", "$1@");
    int query = shown.indexOf('?');
    if (query < 0) {
      return shown;
    }
    List<String> kept = new ArrayList<>();
    for (String parameter : shown.substring(query + 1).split("&", -1)) {
      int eq = parameter.indexOf('=');
      String name = eq < 0 ? parameter : parameter.substring(0, eq);
      if (!name.toLowerCase(Locale.ROOT).contains("password")) {
        kept.add(parameter);
      }
    }
    return shown.substring(0, query) + (kept.isEmpty() ? "" : "?" + String.join("&", kept));
  }

  private @Nullable String password() throws IOException {
    if (passwordFile != null && !passwordFile.isEmpty()) {
      return Files.readString(Paths.get(passwordFile), StandardCharsets.UTF_8).strip();
    }
    if (passwordEnv != null && !passwordEnv.isEmpty()) {
      return System.getenv(passwordEnv);
    }
    return null;
  }

  /** A data source with the password read now, here. */
  public DataSource dataSource() {
    PGSimpleDataSource source = new PGSimpleDataSource();
    source.setUrl(url);
    source.setUser(user);
    try {
      String password = password();
      if (password != null) {
        source.setPassword(password);
      }
    } catch (IOException e) {
      throw new IllegalStateException("Cannot read the password file " + passwordFile, e);
    }
    return source;
  }

  public Connection open() throws SQLException {
    return dataSource().getConnection();
  }

  @Override
  public String toString() {
    return user + " at " + urlWithoutPassword();
  }
}
