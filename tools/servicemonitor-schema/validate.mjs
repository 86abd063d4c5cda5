// Validates ServiceMonitor resources against the Prometheus Operator's CRD schema (the
// openAPIV3Schema of monitoring.coreos.com/v1 ServiceMonitor, compiled to an ajv validator by
// @kubernetes-models/prometheus-operator). kubernetes-validate only knows built-in kinds.
// Input on stdin: a JSON array of resources (tests/test_kubernetes.py parses the YAML).
// Output: one JSON line per resource, {"name", "errors": [...]}; exit 1 if any has errors.
// Types, required fields, enums and patterns are checked; like a CRD schema without
// additionalProperties, unknown fields are not.
import { readFileSync } from "node:fs";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const resources = JSON.parse(readFileSync(0, "utf8"));
let failed = false;
for (const resource of resources) {
  const errors = [];
  if (resource.apiVersion !== ServiceMonitor.apiVersion || resource.kind !== ServiceMonitor.kind) {
    errors.push(`not a ${ServiceMonitor.apiVersion} ${ServiceMonitor.kind}`);
  } else {
    try {
      new ServiceMonitor(resource).validate();
    } catch (error) {
      errors.push(error.message);
    }
  }
  failed ||= errors.length > 0;
  console.log(JSON.stringify({ name: resource.metadata?.name ?? null, errors }));
}
process.exit(failed ? 1 : 0);
