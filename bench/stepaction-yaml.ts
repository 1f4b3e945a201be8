// The StepAction the benchmarks feed catalogs: five params of the kinds real
// definitions declare (a plain string, a string with a default, an array, an
// object, a default that references another), env, command and args.

export function benchStepAction(i: number, image = `registry.example/tool-${i}:1.0`): string {
  return `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: step-${i}
spec:
  image: ${image}
  params:
    - name: target
    - name: mode
      default: fast
    - name: flags
      type: array
      default: ["-v"]
    - name: platform
      properties: {os: {}, arch: {}}
      default: {os: linux, arch: amd64}
    - name: out
      default: /workspace/$(params.target)
  env:
    - {name: OS, value: $(params.platform.os)}
    - {name: ARCH, value: $(params.platform.arch)}
  command: [tool-${i}]
  args: ["--mode=$(params.mode)", "$(params.flags[*])", "--out", "$(params.out)", "$(params.target)"]
`
}
