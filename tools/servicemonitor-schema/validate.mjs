// Validates the Prometheus Operator's resources of deploy/kubernetes/ (ServiceMonitor,
// PrometheusRule) against their CRD schemas (the openAPIV3Schema of monitoring.coreos.com/v1,
// compiled to ajv validators by @kubernetes-models/prometheus-operator). kubernetes-validate only
// knows built-in kinds.
// Input on stdin: a JSON array of resources (tests/test_kubernetes.py parses the YAML).
// Output: one JSON line per resource, {"name", "errors": [...]}; exit 1 if any has errors.
// Types, required fields, enums and patterns are checked; like a CRD schema without
// additionalProperties, unknown fields are not.
import { readFileSync } from "node:fs";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const models = [ServiceMonitor, PrometheusRule];
const resources = JSON.parse(readFileSync(0, "utf8"));
let failed = false;
for (const resource of resources) {
  const errors = [];
  const Model = models.find(
    (model) => resource.apiVersion === model.apiVersion && resource.kind === model.kind,
  );
  if (Model === undefined) {
    errors.push(`not one of ${models.map((model) => `${model.apiVersion} ${model.kind}`).join(", ")}`);
  } else {
    try {
      new Model(resource).validate();
    } catch (error) {
      errors.push(error.message);
    }
  }
  failed ||= errors.length > 0;
  console.log(JSON.stringify({ name: resource.metadata?.name ?? null, errors }));
}
process.exit(failed ? 1 : 0);
