#!/usr/bin/env node
// qsadmin entry point: oclif reads commands from dist/commands (see package.json "oclif").
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
