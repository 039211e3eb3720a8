-- wrk's --latency prints p50/p75/p90/p99 only; this adds p99.9 and the error counts on one
-- machine-readable line (latencies in microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_DONE p999_us=%d requests=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    latency:percentile(99.9), summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
