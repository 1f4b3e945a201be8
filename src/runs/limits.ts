// The counts of a TaskRun or PipelineRun that expansion's cost grows with,
// checked before any table is built: tasks, steps, params per list, and the
// length of every param name and object key (substitution skips references
// longer than any key could be, so no key may be longer than that bound).

import { asList, isJsonObject as isObject } from '../json/values.ts'
import { checkCount } from '../limits/measure.ts'
import { limits } from '../limits/limits.ts'
import { problem, type Problem } from '../problems/problem.ts'
import type { KubeObject } from '../types/k8s.ts'

function checkNames(params: unknown, path: string): Problem[] {
  const list = asList<unknown>(params)
  const out = checkCount(list.length, 'params', path, 'params')
  for (const [i, p] of list.entries()) {
    if (!isObject(p)) continue
    if (typeof p.name === 'string' && p.name.length > limits.nameLength) {
      out.push(
        problem(`${path}[${i}].name`, `a name of ${p.name.length} characters: longer than ${limits.nameLength} (limit nameLength)`, { limit: 'nameLength' }),
      )
    }
    for (const field of ['value', 'default', 'properties'] as const) {
      const v = p[field]
      if (!isObject(v)) continue
      for (const key of Object.keys(v)) {
        if (key.length > limits.nameLength) {
          out.push(
            problem(`${path}[${i}].${field}`, `a key of ${key.length} characters: longer than ${limits.nameLength} (limit nameLength)`, {
              limit: 'nameLength',
            }),
          )
          break
        }
      }
    }
  }
  return out
}

function checkTaskSpec(taskSpec: unknown, path: string): { problems: Problem[]; steps: number } {
  if (!isObject(taskSpec)) return { problems: [], steps: 0 }
  const steps = asList<unknown>(taskSpec.steps)
  const out = checkNames(taskSpec.params, `${path}.params`)
  for (const [i, step] of steps.entries()) if (isObject(step)) out.push(...checkNames(step.params, `${path}.steps[${i}].params`))
  return { problems: out, steps: steps.length }
}

/** Every limit a TaskRun or PipelineRun passes, as problems marked with the limit. */
export function checkRunLimits(obj: KubeObject): Problem[] {
  const spec = obj.spec
  if (!isObject(spec)) return []
  const out = checkNames(spec.params, 'spec.params')
  let steps = 0
  if (obj.kind === 'TaskRun') {
    const task = checkTaskSpec(spec.taskSpec, 'spec.taskSpec')
    out.push(...task.problems)
    steps += task.steps
  } else if (isObject(spec.pipelineSpec)) {
    const pipeline = spec.pipelineSpec
    out.push(...checkNames(pipeline.params, 'spec.pipelineSpec.params'))
    const tasks = [
      ...asList<unknown>(pipeline.tasks).map((t, i) => ({ t, path: `spec.pipelineSpec.tasks[${i}]` })),
      ...asList<unknown>(pipeline.finally).map((t, i) => ({ t, path: `spec.pipelineSpec.finally[${i}]` })),
    ]
    out.push(...checkCount(tasks.length, 'tasks', 'spec.pipelineSpec.tasks', 'tasks and finally tasks'))
    for (const { t, path } of tasks) {
      if (!isObject(t)) continue
      out.push(...checkNames(t.params, `${path}.params`))
      if (isObject(t.matrix)) out.push(...checkNames(t.matrix.params, `${path}.matrix.params`))
      const task = checkTaskSpec(t.taskSpec, `${path}.taskSpec`)
      out.push(...task.problems)
      steps += task.steps
    }
  }
  out.push(...checkCount(steps, 'steps', 'spec', obj.kind === 'TaskRun' ? 'steps' : 'steps in all its tasks'))
  return out
}
