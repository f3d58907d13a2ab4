import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));

it('every export of src/client/index.ts has TSDoc with an @example', () => {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const docs = ts.displayPartsToString(symbol.getDocumentationComment(checker));
    if (docs.trim() === '' || !symbol.getJsDocTags(checker).some((t) => t.name === 'example'))
      missing.push(exported.name);
  }
  expect(missing).toEqual([]);
  expect(checker.getExportsOfModule(moduleSymbol).map((s) => s.name)).toContain('createClient');
});
