#!/usr/bin/env node
// npm run worker: a long-running augmentation worker for GPU or CPU nodes.
import { workerCommand } from './worker-command.js';

await workerCommand().parseAsync(process.argv);
