// Fails when a function in src/ is 60 lines or longer (issue 13: "the longest function under
// 60 lines"). Uses the TypeScript compiler's own parser, so arrow functions, methods and
// accessors count too; a function's lines run from its first line to its closing brace.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const LIMIT = Number(process.env.MAX_FUNCTION_LINES ?? 60);
const root = path.resolve(import.meta.dirname, '..', 'src');
const files = fs.readdirSync(root, { recursive: true }).filter((f) => f.endsWith('.ts')).map((f) => path.join(root, f));
const found = [];
for (const file of files) {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = src.getLineAndCharacterOfPosition(node.getStart(src)).line;
      const last = src.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name?.getText(src) ?? (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(src) : '(anonymous)');
      found.push({ file: path.relative(path.dirname(root), file), line: first + 1, name, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
}
found.sort((a, b) => b.lines - a.lines);
const over = found.filter((f) => f.lines >= LIMIT);
if (process.argv.includes('--top')) for (const f of found.slice(0, 25)) console.log(`${String(f.lines).padStart(4)}  ${f.file}:${f.line} ${f.name}`);
if (over.length) {
  for (const f of over) console.error(`${f.file}:${f.line}: ${f.name} is ${f.lines} lines (it must be under ${LIMIT})`);
  console.error(`${over.length} function(s) of ${LIMIT} lines or more.`);
  process.exit(1);
}
console.log(`longest function: ${found[0].lines} lines (${found[0].file}:${found[0].line} ${found[0].name}); every one is under ${LIMIT}.`);
