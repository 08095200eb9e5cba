import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderContractMarkdown } from '../functions/core/contract-docs.js';

describe('README', () => {
  it('documents exactly the tables and columns of the contract (run `npm run docs` after changing it)', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(readme).toContain(renderContractMarkdown());
  });
});
