/**
 * X-Ray tracing through Powertools for AWS Lambda's Tracer. Loaded only
 * when tracing is on (`telemetry/tracing.ts`), so a bundle without it
 * carries none of the X-Ray SDK.
 *
 * Subsegments are opened on the invocation's subsegment explicitly rather
 * than made "current": the fields of an image are asked at once, and each
 * request's subsegment must be a sibling of the others, not a child of
 * whichever started last.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { FieldlensError } from '../core/errors';
import type { ModelClient } from '../core/ports';
import type { Tracing } from '../telemetry/tracing';

type Segment = NonNullable<ReturnType<Tracer['getSegment']>>;

/** A {@link Tracing} over a Powertools Tracer for `serviceName`. */
export function createXrayTracing(serviceName: string): Tracing {
  const tracer = new Tracer({ serviceName });
  let invocation: Segment | undefined;
  return {
    captureClient: (client) => tracer.captureAWSv3Client(client),
    traceModel(model): ModelClient {
      return {
        modelName: model.modelName,
        async complete(request, options) {
          const parent = invocation ?? tracer.getSegment();
          const sub = parent?.addNewSubsegment('### model request');
          sub?.addAnnotation('field', request.schemaName);
          sub?.addAnnotation('reask', request.followUp.length > 0);
          try {
            return await model.complete(request, options);
          } catch (err) {
            if (sub) {
              if (err instanceof FieldlensError) sub.addAnnotation('errorCode', err.code);
              sub.addError(err as Error, true);
            }
            throw err;
          } finally {
            sub?.close();
          }
        },
      };
    },
    startInvocation(handlerName) {
      const parent = tracer.getSegment();
      if (!parent) return () => undefined;
      const sub = parent.addNewSubsegment(`## ${handlerName}`);
      tracer.setSegment(sub);
      invocation = sub;
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
      return () => {
        sub.close();
        tracer.setSegment(parent);
        invocation = undefined;
      };
    },
  };
}
