import { App } from 'aws-cdk-lib';
import { PlutoExportStack } from './stack.js';

const app = new App();
new PlutoExportStack(app, 'PlutoExport', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
