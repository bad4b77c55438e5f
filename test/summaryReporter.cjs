// mocha's spec output, plus one closing line in the plain form CI reads:
// "unit: N passed, N failed, N skipped".
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const label = (options.reporterOption && options.reporterOption.label) || 'tests';
    runner.once('end', () => {
      const s = runner.stats;
      process.stdout.write(`\n${label}: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = SummaryReporter;
