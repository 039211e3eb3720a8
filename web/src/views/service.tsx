export function ServiceView(props: { namespace: string; name: string }) {
  return <h1>{props.name}</h1>;
}
