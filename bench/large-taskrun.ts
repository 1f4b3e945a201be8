// The large realistic TaskRun the benchmarks share: 60 steps and 50 task
// params, about the largest real Task seen (docs/limits.md). Ten components,
// each cloned, built, summarized, packaged as an image and announced, with an
// inline step that reports; every reference names a StepAction of
// examples/stepactions, so it expands against the example catalog.

import type { KubeObject } from '../src/types/k8s.ts'

const components = 10

/** The inline step's script: shell with command substitutions and step results, as real scripts have. */
export function reportScript(c: number): string {
  return [
    '#!/bin/sh',
    'set -eu',
    `echo "component $(params.c${c}-repo) at $(params.c${c}-revision)"`,
    `digest=$(cat "$(steps.image-${c}.results.digest.path)")`,
    `short=$(cat "$(steps.summarize-${c}.results.short-sha.path)")`,
    `printf '%s@%s (%s)\\n' "$(params.c${c}-image)" "$digest" "$short" >> /workspace/report.txt`,
    `test -n "$(params.c${c}-packages)" || exit 1`,
    'ls -l /workspace | wc -l',
    '',
  ].join('\n')
}

export function largeTaskRun(): KubeObject {
  const taskParams: Record<string, unknown>[] = []
  const runParams: Record<string, unknown>[] = []
  const steps: Record<string, unknown>[] = []
  for (let c = 0; c < components; c++) {
    taskParams.push(
      { name: `c${c}-repo`, description: `Repository of component ${c}.` },
      { name: `c${c}-revision`, default: 'main' },
      { name: `c${c}-packages`, default: `./cmd/component-${c}/...` },
      { name: `c${c}-image`, description: `Image reference component ${c} is pushed to.` },
      { name: `c${c}-flags`, type: 'array', default: ['-trimpath'] },
    )
    runParams.push(
      { name: `c${c}-repo`, value: `https://github.com/example/component-${c}` },
      { name: `c${c}-image`, value: `registry.example.com/team/component-${c}` },
      { name: `c${c}-flags`, value: ['-trimpath', '-ldflags=-s -w', `-tags=component${c}`] },
    )
    steps.push(
      {
        name: `clone-${c}`,
        ref: { name: 'git-clone' },
        params: [
          { name: 'url', value: `$(params.c${c}-repo)` },
          { name: 'revision', value: `$(params.c${c}-revision)` },
          { name: 'output-dir', value: `/workspace/c${c}` },
        ],
      },
      {
        name: `build-${c}`,
        ref: { name: 'go-build' },
        params: [
          { name: 'flags', value: `$(params.c${c}-flags[*])` },
          { name: 'packages', value: `$(params.c${c}-packages)` },
          { name: 'source-dir', value: `/workspace/c${c}` },
        ],
        computeResources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
      },
      { name: `summarize-${c}`, ref: { name: 'summarize' }, params: [{ name: 'commit', value: `$(steps.clone-${c}.results.commit)` }] },
      {
        name: `image-${c}`,
        ref: { name: 'kaniko-build' },
        params: [
          { name: 'image', value: `$(params.c${c}-image):$(steps.summarize-${c}.results.short-sha)` },
          { name: 'context', value: `/workspace/c${c}` },
          { name: 'extra-args', value: ['--cache=true', `--label=component=c${c}`] },
        ],
      },
      {
        name: `notify-${c}`,
        ref: { name: 'notify' },
        onError: 'continue',
        params: [
          { name: 'endpoint', value: { url: 'https://hooks.example.com/builds', method: 'POST' } },
          { name: 'message', value: `built $(params.c${c}-image)@$(steps.image-${c}.results.digest)` },
        ],
      },
      {
        name: `report-${c}`,
        image: 'busybox:1.37',
        env: [{ name: 'COMPONENT', value: `c${c}` }],
        script: reportScript(c),
      },
    )
  }
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { generateName: 'release-', namespace: 'default', labels: { 'app.kubernetes.io/part-of': 'release' } },
    spec: {
      serviceAccountName: 'release-bot',
      params: runParams,
      taskSpec: { params: taskParams, steps },
    },
  }
}
