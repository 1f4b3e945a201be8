// Field paths as problems print them (`spec.params[0].name`), from the JSON
// pointers that ajv reports (`/spec/params/0/name`).

/** `/spec/params/0/name` → `spec.params[0].name` */
export function jsonPointerToPath(pointer: string): string {
  let path = ''
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (/^[0-9]+$/.test(part)) path += `[${part}]`
    else path += path === '' ? part : `.${part}`
  }
  return path
}
