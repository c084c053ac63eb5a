/**
 * Test fixtures of the pipelines module: a BigQuery storage-read fake ({@code FakeStorageReads})
 * for Beam's {@code FakeBigQueryServices}, and a stand-in portable runner that the job must refuse.
 */
package dev.batchinference.pipelines.testing;
