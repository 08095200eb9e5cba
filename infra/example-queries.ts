/**
 * The README's example SQL, split into one query per `-- title` comment: the stack saves each as an
 * Athena named query, so the README stays the one place the SQL is written.
 */
import { readFileSync } from 'node:fs';

export interface ExampleQuery {
  /** The comment line above the statement. */
  readonly name: string;
  /** The statement, ending with `;`. */
  readonly sql: string;
}

const EXAMPLE_BLOCK = /^### Example SQL\n[\s\S]*?^```sql\n([\s\S]*?)^```/m;

export function exampleQueries(readme: string): ExampleQuery[] {
  const block = EXAMPLE_BLOCK.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no ```sql block under "### Example SQL"');
  return block
    .split(/\n\s*\n/)
    .map((chunk) => chunk.trim())
    .filter((chunk) => chunk !== '')
    .map((chunk) => {
      const [first = '', ...rest] = chunk.split('\n');
      const title = /^-- (.+)$/.exec(first)?.[1];
      if (title === undefined || rest.length === 0) {
        throw new Error(`README.md example SQL: each statement needs a "-- title" line: ${first}`);
      }
      return { name: title, sql: rest.join('\n') };
    });
}

export function readmeExampleQueries(): ExampleQuery[] {
  return exampleQueries(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
}
