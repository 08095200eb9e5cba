import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Repository-relative paths of the files a module imports, `.js` specifiers mapped back to `.ts`. */
function localImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] ?? '');
  return specifiers.map((specifier) =>
    relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts'),
  );
}

function packageImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^'.][^']*)'/g)].map((m) => m[1] ?? '');
}

const STEP_MODULES = [
  'start-run',
  'plan-experiment',
  'export-slot',
  'commit-experiment',
  'record-experiment-failure',
  'finalize-run',
].map((name) => `functions/core/workflow/${name}.ts`);

describe('module structure', () => {
  it('the step table dispatches to exactly the six step modules', () => {
    const stepImports = localImports('functions/core/workflow/steps.ts');
    expect(STEP_MODULES.filter((module) => !stepImports.includes(module))).toEqual([]);
  });

  it('no workflow step imports another step', () => {
    const crossings = STEP_MODULES.flatMap((step) =>
      localImports(step)
        .filter((imported) => STEP_MODULES.includes(imported))
        .map((imported) => `${step} -> ${imported}`),
    );
    expect(crossings).toEqual([]);
  });

  it('nothing under functions/ imports from test/', () => {
    const crossings = sourceFiles('functions').flatMap((file) =>
      localImports(file)
        .filter((imported) => imported.startsWith('test/'))
        .map((imported) => `${file} -> ${imported}`),
    );
    expect(crossings).toEqual([]);
  });

  it('Parquet parts reach the lake only through publishPart and PartStream', () => {
    const encoders = sourceFiles('functions').filter((file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      return text.includes('encodeParquet(') || text.includes('new ParquetStreamEncoder(');
    });
    expect(encoders.sort()).toEqual(['functions/core/parquet.ts', 'functions/core/publish-part.ts']);
  });

  it('comments cite only documents in the repository, and design.md has every section they name', () => {
    const design = readFileSync(join(ROOT, 'docs/design.md'), 'utf8');
    const headings = new Set([...design.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]));
    const outsideCitation = new RegExp(['SPEC', '§'].join(' '));
    const files = ['functions', 'infra', 'test', 'bench', 'scripts'].flatMap(sourceFiles);
    const outside = files.filter((file) => outsideCitation.test(readFileSync(join(ROOT, file), 'utf8')));
    const missing = files.flatMap((file) =>
      [...readFileSync(join(ROOT, file), 'utf8').matchAll(/design\.md[,(] ?([A-Z][A-Za-z ]+?)[).]/g)]
        .map((m) => m[1] ?? '')
        .filter((section) => !headings.has(section))
        .map((section) => `${file}: ${section}`),
    );
    expect(outside).toEqual([]);
    expect(missing).toEqual([]);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('](docs/design.md)');
  });

  it('the product builds no CDK app at run time: nothing under functions/ imports aws-cdk-lib or infra/', () => {
    const crossings = sourceFiles('functions').flatMap((file) => [
      ...packageImports(file)
        .filter((name) => name.startsWith('aws-cdk-lib'))
        .map((name) => `${file} -> ${name}`),
      ...localImports(file)
        .filter((imported) => imported.startsWith('infra/'))
        .map((imported) => `${file} -> ${imported}`),
    ]);
    expect(crossings).toEqual([]);
  });

  it('the core imports no AWS SDK', () => {
    const sdkImports = sourceFiles('functions/core').flatMap((file) =>
      packageImports(file)
        .filter((name) => name.startsWith('@aws-sdk/'))
        .map((name) => `${file} -> ${name}`),
    );
    expect(sdkImports).toEqual([]);
  });
});
