import { writeFile } from 'node:fs/promises';
import { synthesizeLocalDefinition } from '../infra/local-definition.js';

await writeFile(
  'functions/local/workflow-definition.json',
  `${JSON.stringify(synthesizeLocalDefinition(), null, 2)}\n`,
);
