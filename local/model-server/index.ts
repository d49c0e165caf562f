/**
 * The offline default model: OCR plus label rules behind the OpenAI Chat
 * Completions protocol. For developer machines, demos and tests; never
 * imported by anything under `functions/`.
 */
export { startLocalModelServer, LOCAL_MODEL_NAME } from './server';
export type { LocalModelServer, LocalModelServerOptions, RequestEvent } from './server';
export type { OcrEngine } from './ocr';
