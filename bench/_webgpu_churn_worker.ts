// One runtime of bench/webgpu_churn.ts: asks for a WebGPU adapter when told to, then answers.
const scope = self as unknown as {
  onmessage: (e: MessageEvent<{ ask: boolean }>) => void;
  postMessage(message: string): void;
};
scope.onmessage = async (e) => {
  const adapter = e.data.ask ? await navigator.gpu.requestAdapter() : null;
  scope.postMessage(adapter ? "adapter" : "none");
};
