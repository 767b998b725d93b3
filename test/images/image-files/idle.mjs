// The client image's default command: keeps the pod alive for `kubectl exec`. As PID 1 a Node
// process gets no default signal handling, so SIGTERM must be handled or deletion waits out the
// grace period.
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1 << 30);
