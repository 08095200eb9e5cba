import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { LAMBDA_RUNTIME } from '../infra/constructs/export-functions.js';

const lambdaMajor = LAMBDA_RUNTIME.name.match(/^nodejs(\d+)\.x$/)?.[1];

describe('Node.js version', () => {
  test('the tests run on the Node.js major the Lambda functions run on', () => {
    expect(lambdaMajor).toBe('24');
    expect(process.versions.node.split('.')[0]).toBe(lambdaMajor);
  });

  test('the node dev dependency, which npm scripts run on, is that major', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies.node?.split('.')[0]).toBe(lambdaMajor);
    expect(readFileSync(new URL('../.nvmrc', import.meta.url), 'utf8').trim()).toBe(lambdaMajor);
  });
});
