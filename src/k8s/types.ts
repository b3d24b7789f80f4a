// The parts of kubectl's and helm's JSON that the doctor reads (kubectl get -o json: a List of Pod or Event
// objects; helm 3 list -o json: an array of releases; helm get values -o json: the user-supplied values or null).

export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string; startedAt?: string; finishedAt?: string; signal?: number };
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

export interface Pod {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[]; nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export interface K8sList<T> {
  kind?: string;
  items?: T[];
}

export interface K8sEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  source?: { component?: string };
}

export interface HelmRelease {
  name: string;
  namespace: string;
  revision: string;
  updated?: string;
  status: string;
  chart: string;
  app_version?: string;
}
