import { readFile, writeFile } from 'node:fs/promises';
import { replaceContractSection } from '../functions/core/contract-docs.js';

const readme = await readFile('README.md', 'utf8');
await writeFile('README.md', replaceContractSection(readme));
