import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** Every entry point's source file, from the package's `exports` map. */
const entryPoints = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object')
  .map(([subpath, target]) => ({
    subpath,
    source: (target as { default: string }).default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'),
  }));

describe('public API documentation', () => {
  const program = ts.createProgram(
    entryPoints.map((e) => root + e.source),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true },
  );
  const checker = program.getTypeChecker();

  it('maps every exports entry to a source file', () => {
    expect(entryPoints.map((e) => e.subpath)).toContain('.');
    for (const entry of entryPoints)
      expect(program.getSourceFile(root + entry.source), entry.source).toBeDefined();
  });

  for (const entry of entryPoints) {
    it(`every export of "${entry.subpath}" has TSDoc with an @example`, () => {
      const file = program.getSourceFile(root + entry.source)!;
      const moduleSymbol = checker.getSymbolAtLocation(file)!;
      const missing: string[] = [];
      for (const exported of checker.getExportsOfModule(moduleSymbol)) {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const tags = symbol.getJsDocTags(checker);
        const docs = ts.displayPartsToString(symbol.getDocumentationComment(checker));
        if (docs.trim() === '' || !tags.some((t) => t.name === 'example')) missing.push(exported.name);
      }
      expect(missing, `exports without TSDoc and an @example in ${entry.source}`).toEqual([]);
    });
  }
});
