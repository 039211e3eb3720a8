// Kubernetes Service YAML as users have it: `kubectl get -o yaml` output, Istio's samples, lists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResources } from './parse.ts';

// `kubectl get svc reviews -n bookinfo -o yaml` on a 1.30 cluster.
const kubectlGet = `apiVersion: v1
kind: Service
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"reviews","service":"reviews"},"name":"reviews","namespace":"bookinfo"},"spec":{"ports":[{"name":"http","port":9080}],"selector":{"app":"reviews"}}}
  creationTimestamp: "2024-05-02T09:14:07Z"
  labels:
    app: reviews
    service: reviews
  name: reviews
  namespace: bookinfo
  resourceVersion: "48213"
  uid: 3f1d2c9e-8a41-4d0b-9a55-2b1f0c7d8e61
spec:
  clusterIP: 10.96.148.21
  clusterIPs:
  - 10.96.148.21
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 9080
    protocol: TCP
    targetPort: 9080
  selector:
    app: reviews
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
`;

// A NodePort Service with a named targetPort and appProtocol, as in many Helm charts.
const helmChart = `apiVersion: v1
kind: Service
metadata:
  name: grpc-api
  namespace: shop
  labels:
    app.kubernetes.io/name: grpc-api
    app.kubernetes.io/managed-by: Helm
  annotations:
    meta.helm.sh/release-name: shop
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector:
    app.kubernetes.io/name: grpc-api
  ports:
    - name: grpc
      port: 50051
      targetPort: grpc
      nodePort: 30051
      protocol: TCP
      appProtocol: kubernetes.io/h2c
`;

test('a Service from kubectl get -o yaml applies; clusterIP is kept, clusterIPs and status dropped', () => {
  const [svc] = parseResources(kubectlGet, 'reviews.yaml');
  assert.ok(svc?.kind === 'Service');
  assert.deepEqual(svc, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'reviews',
      namespace: 'bookinfo',
      labels: { app: 'reviews', service: 'reviews' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration':
          '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"reviews","service":"reviews"},"name":"reviews","namespace":"bookinfo"},"spec":{"ports":[{"name":"http","port":9080}],"selector":{"app":"reviews"}}}\n',
      },
    },
    spec: {
      selector: { app: 'reviews' },
      ports: [{ name: 'http', port: 9080, protocol: 'TCP', targetPort: 9080 }],
      clusterIP: '10.96.148.21',
    },
  });
});

test('a Helm-style NodePort Service with named targetPort and appProtocol applies', () => {
  const [svc] = parseResources(helmChart, 'chart.yaml');
  assert.ok(svc?.kind === 'Service');
  assert.deepEqual(svc.spec.ports, [
    { name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
  ]);
  assert.equal(svc.metadata.namespace, 'shop');
});

/** A document as an item of a block sequence: "- " on its first line, the rest indented. */
function asListItem(doc: string): string {
  return (
    doc
      .trimEnd()
      .split('\n')
      .map((line, i) => (i === 0 ? '- ' : '  ') + line)
      .join('\n') + '\n'
  );
}

test('kubectl get svc -o yaml (a List) applies as its items', () => {
  const list = `apiVersion: v1
items:
${[kubectlGet, helmChart].map(asListItem).join('')}kind: List
metadata:
  resourceVersion: ""
`;
  const rs = parseResources(list, 'all.yaml');
  assert.deepEqual(
    rs.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
    ['bookinfo/reviews', 'shop/grpc-api'],
  );
});

test('a clusterIP that is not an address, "None" or "" is an error at its line', () => {
  assert.throws(
    () => parseResources(kubectlGet.replace('clusterIP: 10.96.148.21', 'clusterIP: auto'), 'reviews.yaml'),
    /reviews\.yaml:16:14: .*spec\.clusterIP/,
  );
  const [headless] = parseResources(
    kubectlGet.replace('clusterIP: 10.96.148.21', 'clusterIP: None'),
    'r.yaml',
  );
  assert.ok(headless?.kind === 'Service');
  assert.equal(headless.spec.clusterIP, 'None');
});

test('Kubernetes fields the mesh does not model are still errors (UDP, unknown spec fields)', () => {
  assert.throws(
    () => parseResources(helmChart.replace('protocol: TCP', 'protocol: UDP'), 'chart.yaml'),
    /chart\.yaml:21:17: .*spec\.ports\[0\]\.protocol/,
  );
  assert.throws(
    () =>
      parseResources(helmChart.replace('  type: NodePort', '  externalName: db.example.com'), 'chart.yaml'),
    /chart\.yaml:12:3: unknown field "externalName"/,
  );
});
