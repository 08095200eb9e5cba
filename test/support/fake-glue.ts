import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  BatchUpdatePartitionCommand,
  EntityNotFoundException,
  GetPartitionCommand,
  GetPartitionsCommand,
  type PartitionInput,
} from '@aws-sdk/client-glue';
import type { AwsStub } from 'aws-sdk-client-mock';

/** The partitions a fake Glue holds, by `<table>/<values>`. */
export type FakePartitions = Map<string, PartitionInput>;

const keyOf = (table: string, values: readonly string[] | undefined) =>
  `${table}/${(values ?? []).join('/')}`;

/**
 * Makes a mocked Glue client keep partitions in memory and answer the partition calls the way
 * Glue does (AlreadyExists per entry, EntityNotFound for a missing partition, one page per list).
 */
// biome-ignore lint/suspicious/noExplicitAny: AwsStub's type parameters are the client's command union.
export function fakeGluePartitions(glue: AwsStub<any, any, any>): FakePartitions {
  const stored: FakePartitions = new Map();
  glue
    .on(BatchCreatePartitionCommand)
    .callsFake((input: { TableName: string; PartitionInputList: PartitionInput[] }) => ({
      Errors: input.PartitionInputList.flatMap((p) => {
        const key = keyOf(input.TableName, p.Values);
        if (stored.has(key)) {
          return [{ PartitionValues: p.Values, ErrorDetail: { ErrorCode: 'AlreadyExistsException' } }];
        }
        stored.set(key, p);
        return [];
      }),
    }));
  glue
    .on(BatchUpdatePartitionCommand)
    .callsFake(
      (input: {
        TableName: string;
        Entries: { PartitionValueList: string[]; PartitionInput: PartitionInput }[];
      }) => {
        for (const e of input.Entries)
          stored.set(keyOf(input.TableName, e.PartitionValueList), e.PartitionInput);
        return {};
      },
    );
  glue.on(GetPartitionCommand).callsFake((input: { TableName: string; PartitionValues: string[] }) => {
    const found = stored.get(keyOf(input.TableName, input.PartitionValues));
    if (found === undefined) {
      throw new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} });
    }
    return { Partition: found };
  });
  glue.on(GetPartitionsCommand).callsFake((input: { TableName: string }) => ({
    Partitions: [...stored.entries()].filter(([k]) => k.startsWith(`${input.TableName}/`)).map(([, p]) => p),
  }));
  glue
    .on(BatchDeletePartitionCommand)
    .callsFake((input: { TableName: string; PartitionsToDelete: { Values: string[] }[] }) => {
      for (const p of input.PartitionsToDelete) stored.delete(keyOf(input.TableName, p.Values));
      return {};
    });
  return stored;
}
