// Renders one LZA config file the way LZA v1.15.5 does before it parses the YAML
// (ReplacementsConfig.preProcessBuffer, config/lib/replacements-config.ts): Handlebars
// with its default options (HTML escaping on), over the whole file, comments included;
// an `account` helper that turns an account name into its id; unknown tokens left as
// they are; `"{{resolve:` (CloudFormation dynamic references) escaped first.
//
//   node render.js CONFIG.yaml PLACEHOLDERS.json ACCOUNT_IDS.json
//
// PLACEHOLDERS maps each replacement key (and each account name, to itself) to its value;
// ACCOUNT_IDS maps account names to ids. Prints the rendered file; a template Handlebars
// cannot parse, or an unknown account, fails with its message.
'use strict';
const fs = require('fs');
const Handlebars = require('handlebars');

const [configPath, placeholdersPath, accountIdsPath] = process.argv.slice(2);
const placeholders = JSON.parse(fs.readFileSync(placeholdersPath, 'utf8'));
const accountIds = JSON.parse(fs.readFileSync(accountIdsPath, 'utf8'));

Handlebars.registerHelper('account', name => {
  if (!(name in accountIds)) {
    throw new Error(`account ${JSON.stringify(name)} is not in accounts-config.yaml`);
  }
  return accountIds[name];
});
Handlebars.registerHelper('helperMissing', function (context, options) {
  const token = (options && options.name) || (context && context.name);
  if (token && token !== 'account') {
    return new Handlebars.SafeString(`{{${token}}}`);
  }
  return undefined;
});

const source = fs.readFileSync(configPath, 'utf8').replace(/"{{resolve:/g, '"\\{{resolve:');
try {
  process.stdout.write(Handlebars.compile(source)(placeholders));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
