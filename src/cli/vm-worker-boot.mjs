// Entry of the VM's worker thread: TypeScript through tsx (as bin/xmhf.js), then the worker itself.
import { register } from 'tsx/esm/api';
register();
await import('./vm-worker.ts');
