/**
 * Writing a result document with the metadata that lets a later event
 * recognise it without reading it.
 */
import type { ResultDocument } from './document';
import type { ObjectRef, ObjectStore } from './ports';

/** User metadata on every result: the source ETag it was computed from. */
export const SOURCE_ETAG_METADATA = 'source-etag';

/** Writes a document beside its source ETag, so a duplicate event can skip it. */
export async function writeResult(store: ObjectStore, ref: ObjectRef, document: ResultDocument): Promise<void> {
  await store.putJson(ref, document, { [SOURCE_ETAG_METADATA]: document.source.etag });
}
