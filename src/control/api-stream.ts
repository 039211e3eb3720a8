// An API answer that is not one JSON document but a stream the handler writes itself (live tap's
// NDJSON). A handler checks everything it can first (bad input, access, unknown target answer with
// their status as usual), then returns one of these; handleApi hands it the response.
import type http from 'node:http';

export class StreamedResponse {
  readonly start: (res: http.ServerResponse) => void;

  constructor(start: (res: http.ServerResponse) => void) {
    this.start = start;
  }
}
