// The AdmissionReviews bench/limit.ts and bench/compare.ts send, and the
// catalog they are answered from: a Pod with no steps annotation (passed
// through), a TaskRun with 5 steps each referencing a StepAction of 5 params
// (strings, an array and an object passed), and a Pod with 3 steps
// referencing the same StepActions.

import { benchStepAction } from './stepaction-yaml.ts'

/** Five StepActions of five params each, as one YAML file. */
export function stepActions(): string {
  return Array.from({ length: 5 }, (_, i) => benchStepAction(i)).join('---\n')
}

function review(uid: string, kind: 'Pod' | 'TaskRun', object: unknown): string {
  const group = kind === 'Pod' ? '' : 'tekton.dev'
  const version = 'v1'
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version, kind },
      resource: { group, version, resource: kind === 'Pod' ? 'pods' : 'taskruns' },
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'bench' },
      object,
    },
  })
}

const podBase = (annotations?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'bench', namespace: 'default', labels: { app: 'bench' }, ...(annotations === undefined ? {} : { annotations }) },
  spec: { containers: [{ name: 'main', image: 'registry.example/app:1.0', args: ['serve'] }] },
})

export interface Payload {
  label: string
  body: string
  patched: boolean
}

export const payloads: Payload[] = [
  { label: 'Pod, pass-through', body: review('u-1', 'Pod', podBase()), patched: false },
  {
    label: 'TaskRun, 5 refs x 5 params',
    body: review('u-2', 'TaskRun', {
      apiVersion: 'tekton.dev/v1',
      kind: 'TaskRun',
      metadata: { name: 'bench', namespace: 'default' },
      spec: {
        params: [{ name: 'flags', value: ['-x', '-y'] }],
        taskSpec: {
          params: [{ name: 'flags', type: 'array' }],
          steps: Array.from({ length: 5 }, (_, i) => ({
            name: `s${i}`,
            ref: { name: `step-${i}` },
            params: [
              { name: 'target', value: `pkg-${i}` },
              { name: 'flags', value: '$(params.flags[*])' },
              { name: 'platform', value: { arch: 'arm64' } },
            ],
          })),
        },
      },
    }),
    patched: true,
  },
  {
    label: 'Pod, 3 steps',
    body: review(
      'u-3',
      'Pod',
      podBase({
        'stepsplice.dev/steps': JSON.stringify(
          Array.from({ length: 3 }, (_, i) => ({ name: `s${i}`, ref: { name: `step-${i}` }, params: [{ name: 'target', value: `t${i}` }] })),
        ),
      }),
    ),
    patched: true,
  },
]
