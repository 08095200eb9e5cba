import packageJson from '../../package.json' with { type: 'json' };

/** The code version recorded in every manifest and sent in the User-Agent. */
export const CODE_VERSION: string = packageJson.version;
