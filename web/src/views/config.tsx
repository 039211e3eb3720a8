export function ConfigView(_props: { query: URLSearchParams }) {
  return <h1>Config</h1>;
}
