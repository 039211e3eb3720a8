export function CanaryView() {
  return <h1>Canary</h1>;
}
