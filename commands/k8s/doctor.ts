import { Flags } from '@oclif/core';
import { QsadminCommand } from '../../src/cli/base.js';
import { K8S_DOCTOR_EXIT_CODES_HELP } from '../../src/cli/exit-codes.js';
import { EXIT } from '../../src/runbook/errors.js';
import type { DoctorResult } from '../../src/k8s/doctor.js';

export default class K8sDoctor extends QsadminCommand {
  static override description = `Explain the Qlik Sense pods that are not healthy, changing nothing on the cluster

Lists the pods (kubectl get pods), selected by --selector or by name prefix (default qliksense-), and judges each by
its containers, not only its phase: a crash-looping container often sits in a Running pod. For each pod that needs
attention it reads the pod's conditions and events and says why: storage (volume claims not available), unschedulable
(not enough cpu/memory, or the nodes' pod limit), a crash loop (with the previous container's last 20 log lines), or
other (the events as they are). Then it reads the helm releases' values and warns when Elasticsearch runs without
persistence (the "minimum setup" of Qlik's logging example: log data is lost when those pods are deleted or rescheduled).
Read-only: kubectl get/logs, helm list/get values. The tools: QSADMIN_KUBECTL and QSADMIN_HELM, or kubectl and helm
on PATH.`;
  static override examples = [
    '<%= config.bin %> k8s doctor',
    '<%= config.bin %> k8s doctor --namespace qlik --context qse-prod',
    '<%= config.bin %> k8s doctor --selector release=qliksense --json',
  ];
  static override help = K8S_DOCTOR_EXIT_CODES_HELP;

  static override flags = {
    namespace: Flags.string({ char: 'n', description: 'the namespace of the Qlik Sense release', default: 'default', env: 'QSADMIN_K8S_NAMESPACE' }),
    context: Flags.string({ description: 'the kubeconfig context (kubectl --context, helm --kube-context); default: the current one', env: 'QSADMIN_K8S_CONTEXT' }),
    selector: Flags.string({ char: 'l', description: 'select the pods by label (kubectl -l), e.g. release=qliksense', exclusive: ['name-prefix'], env: 'QSADMIN_K8S_SELECTOR' }),
    'name-prefix': Flags.string({ description: 'select the pods whose name starts with this [default: qliksense-, unless --selector]', exclusive: ['selector'] }),
  };

  async run(): Promise<DoctorResult> {
    const { flags } = await this.parseCommon(K8sDoctor);
    const { runDoctor } = await import('../../src/k8s/doctor.js');
    const { formatDoctor } = await import('../../src/k8s/report.js');
    const result = await runDoctor({
      namespace: flags.namespace,
      context: flags.context,
      selector: flags.selector,
      namePrefix: flags['name-prefix'],
      kubectl: process.env.QSADMIN_KUBECTL || 'kubectl',
      helm: process.env.QSADMIN_HELM || 'helm',
    });
    this.say(formatDoctor(result));
    process.exitCode = result.ok ? EXIT.ok : EXIT.verificationFailed;
    return result;
  }
}
