/**
 * The CDK app: one stack from the validated deploy configuration (infra/config.ts), checked by
 * cdk-nag's AwsSolutions rules as a validation plugin, so any unacknowledged finding fails synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../functions/core/errors.js';
import { loadDeployConfig } from './config.js';
import { PlutoExportStack } from './stack.js';

const app = new App();
try {
  const config = loadDeployConfig((key) => app.node.tryGetContext(key));
  new PlutoExportStack(app, 'PlutoExport', {
    description:
      'pluto-export: Pluto (pluto.bio) experiments exported on a schedule into an S3 lake for Athena',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    config,
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`pluto-export: ${error.message}`);
  process.exit(2);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
