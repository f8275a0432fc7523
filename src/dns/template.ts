// A deliberately tiny template language for the proxy configs in templates/: `{{name}}` is
// replaced, `{{#flag}}…{{/flag}}` kept only when flag is true. Values are checked first: a
// value that could break out of its line or quotes in a config file is refused, not escaped.

export type TemplateValues = Record<string, string | number | boolean>;

const UNSAFE = /[\n\r"'{};\\$`]/;

/** Renders a template; throws on an unknown name or a value with characters configs would misread. */
export function renderTemplate(template: string, values: TemplateValues, raw: ReadonlySet<string> = new Set()): string {
  const withBlocks = template.replace(
    /\{\{#(\w+)\}\}\n?([\s\S]*?)\{\{\/\1\}\}\n?/g,
    (_, name: string, body: string) => {
      if (!(name in values)) throw new TypeError(`template flag {{#${name}}} has no value`);
      return values[name] ? body : '';
    },
  );
  return withBlocks.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new TypeError(`template value {{${name}}} is missing`);
    const text = String(value);
    if (!raw.has(name) && UNSAFE.test(text))
      throw new TypeError(
        `value ${JSON.stringify(text)} for {{${name}}} contains characters a config file would misread`,
      );
    return text;
  });
}
