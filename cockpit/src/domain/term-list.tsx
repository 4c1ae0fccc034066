// A card's terms and their values, as PatternFly's compact horizontal description list.
import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
} from "@patternfly/react-core";

export function TermList({ id, rows }: { id: string; rows: [string, React.ReactNode][] }) {
  return (
    <DescriptionList isHorizontal isCompact id={id}>
      {rows.map(([term, value]) => (
        <DescriptionListGroup key={term}>
          <DescriptionListTerm>{term}</DescriptionListTerm>
          <DescriptionListDescription>{value}</DescriptionListDescription>
        </DescriptionListGroup>
      ))}
    </DescriptionList>
  );
}
